"""The read side: views of finished (or running) run folders for ``evo inspect``, ``evo plot``,
``evo compare``, ``evo export`` and ``evo replay``."""
