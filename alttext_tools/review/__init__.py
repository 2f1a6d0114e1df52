"""`alttext review`: a local web page to accept, edit, mark decorative or regenerate alt text."""
