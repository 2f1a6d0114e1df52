"""A real Wagtail project on SQLite for tests/test_wagtail.py (its folder: ALTTEXT_WAGTAIL_TEST_DIR)."""
