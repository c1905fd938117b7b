"""Errors a user can act on. Entry points print their message in one line, without a trace."""


class TfAqlError(Exception):
  """Base class of tf_aql's user-facing errors: the message says what is wrong and what to do."""

  @property
  def user_message(self) -> str:
    """The message's first line: gin appends 'In call to configurable ...' lines to errors
    raised inside configurables."""
    return str(self).splitlines()[0]


class EnvironmentLoadError(TfAqlError, ValueError):
  """An environment id gymnasium does not know, or environment settings tf_aql cannot use."""


class ConfigurationError(TfAqlError, ValueError):
  """A gin value that cannot work (for example a search too large for the action space)."""
