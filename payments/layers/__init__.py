"""The components and settings of each layer; each layer folder's __main__.py composes them."""
