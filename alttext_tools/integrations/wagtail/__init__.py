"""The Wagtail integration, a Django app: `INSTALLED_APPS += ["alttext_tools.integrations.wagtail"]`.

An image uploaded with an empty description gets one, written off the request path by the same
pipeline as `alttext fix`; `manage.py alttext_backfill` fills the rest; an admin view lists what
needs a person (accept, edit, regenerate). Settings: one `ALTTEXT = {...}` dict. See
docs/integrations.md. Every module but this one needs a configured Django.
"""
