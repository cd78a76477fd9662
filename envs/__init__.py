"""The project's own gymnasium environments; importing this package registers them."""
