"""`add_field`: the one way a derived config adds a field that its base does not declare.

Base configs (base.py, train_base.py and the loss.py block) declare every field on a line with a
trailing `# comment` and are locked, so a derived config only assigns declared fields and a misspelt
name is an error. A config that really needs a new field declares it here, and its `doc` is that
field's comment: tests/test_configs.py reads both from the sources and refuses an undocumented field.
"""

import ml_collections

from stylejax.errors import StylejaxError


def add_field(config: ml_collections.ConfigDict, key: str, default, doc: str) -> None:
  """Adds the new field `key` ("block.name") with value `default`; `doc` says what it does."""
  if not doc.strip():
    raise StylejaxError(f"add_field({key!r}) needs a doc: say what the field does")
  *blocks, name = key.split(".")
  parent = config
  for depth, block in enumerate(blocks):
    if not isinstance(parent.get(block), ml_collections.ConfigDict):
      raise StylejaxError(f"add_field({key!r}): {'.'.join(blocks[:depth + 1])!r} is not a config block")
    parent = parent[block]
  if name in parent:
    raise StylejaxError(f"add_field({key!r}): the field exists already; assign it instead")
  with parent.unlocked():  # unlocks and relocks only this block and those below it
    parent[name] = default
