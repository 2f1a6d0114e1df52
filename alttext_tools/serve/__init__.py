"""`alttext serve`: alt text over HTTP for CMS upload hooks."""
