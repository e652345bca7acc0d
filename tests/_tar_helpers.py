"""Module-level transforms for the tar tests (picklable for spawn workers)."""


def name_and_bytes(obj):
    return (obj.key, obj.read())
