"""The one exception type that the CLI turns into a one-line message and exit code 2."""


class StylejaxError(Exception):
  """Bad input from the user: a file, a config value or a weight file.

  The message is a single line that says what is wrong and, where there is one, how to fix it.
  Anything else that escapes is a bug and keeps its traceback.
  """

  def __init__(self, message: str):
    super().__init__(" ".join(str(message).split()))
