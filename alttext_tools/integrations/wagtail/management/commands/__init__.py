"""`manage.py alttext_backfill`."""
