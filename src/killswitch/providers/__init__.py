"""Built-in providers: every sub-package here registers itself with ``killswitch.plugins.registry``."""
