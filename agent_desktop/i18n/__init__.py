"""The desktop's translations: ``opencc_desktop_<lang>.ts`` (source, edited through
``scripts/translations.py``) and the compiled ``.qm`` files Qt loads at run time."""
