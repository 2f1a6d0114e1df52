"""Django management commands of the alttext Wagtail app."""
