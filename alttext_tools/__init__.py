"""alttext-tools: find, write and fix image alt text in HTML, Markdown and reST sources."""

__version__ = "0.1.0"
