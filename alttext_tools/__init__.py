"""alttext-tools: find, write and fix image alt text in HTML and Markdown sources."""

__version__ = "0.1.0"
