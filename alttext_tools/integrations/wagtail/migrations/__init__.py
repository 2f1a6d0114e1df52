"""Database migrations of the alttext Wagtail app."""
