"""User-facing errors: the CLI turns a StylejaxError (and its subclasses) into one line and exit code 2."""


class StylejaxError(Exception):
  """Bad input from the user: a file, a config value or a weight file.

  The message is a single line that says what is wrong and, where there is one, how to fix it.
  Anything else that escapes is a bug and keeps its traceback.
  """

  def __init__(self, message: str):
    super().__init__(" ".join(str(message).split()))


class NonFiniteLoss(StylejaxError):
  """A loss or gradient became NaN or inf: the run stops, keeping its last finite state."""
