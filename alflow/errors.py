"""The entry points' error vocabulary: what a user is told, in one line, when a job cannot run.

``ConfigError`` (a setting or the data it points at), ``Terminated`` (SIGTERM reached a job),
``Interrupted`` (Ctrl+C, SIGINT) and the one-line messages both entry points print (``alflow`` jobs,
``alflow label``). Hydra-side: it unwraps Hydra's ``InstantiationException`` to the error raised inside the
constructor.
"""
from __future__ import annotations

import signal

from hydra.errors import InstantiationException

from alflow.data import BadImageError
from alflow.data.files import MaskSizeError

DATA_ERRORS = (BadImageError, MaskSizeError, FileNotFoundError)


class ConfigError(ValueError):
    """A setting (or the data it points at) that no job can run with: one line naming key and value.

    ``kind`` says whose fault it is: ``"config"`` (a setting) or ``"data"`` (a file the dataset reads:
    an unreadable image, a mask of another size, a missing folder), so the line names the right thing."""

    def __init__(self, message: str, kind: str = "config"):
        super().__init__(message)
        self.kind = kind


class Terminated(BaseException):
    """SIGTERM (SLURM's scancel, a pre-emption, ``kill``) reached a job. A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way swallows it; Lightning's own
    handler would turn it into an exit with status 0, as if the job had finished. ``exit_code``:
    the job's exit status (128 + the signal's number, as a shell reports a process the signal ended)."""

    exit_code = 128 + signal.SIGTERM
    signal_name = "SIGTERM"


class Interrupted(Terminated):
    """Ctrl+C (SIGINT) reached a job: stopped like SIGTERM (the run KILLED, the rerun resumes), exit status
    130. Not a KeyboardInterrupt: Lightning catches that one during a fit and exits with status 1, leaving
    the run FAILED with ``SystemExit: 1``; any other BaseException it re-raises."""

    exit_code = 128 + signal.SIGINT
    signal_name = "SIGINT"


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def error_kind(exc: BaseException) -> str:
    """``"data"`` when the error inside a Hydra ``instantiate`` call is one of DATA_ERRORS, else ``"config"``."""
    return "data" if isinstance(_innermost(exc), DATA_ERRORS) else "config"


def config_message(exc: BaseException) -> str:
    """The one-line reason of a config error: the error raised inside a Hydra ``instantiate`` call (whose
    own message adds the target and the full key), else the error itself."""
    exc = _innermost(exc)
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, InstantiationException):  # no cause kept: its first line names the target
        text = text.splitlines()[0]
    if isinstance(exc, DATA_ERRORS):  # the type says what went wrong with the file (e.g. BadImageError)
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split()) if len(text.splitlines()) <= 1 else text


def as_config_error(exc: BaseException) -> ConfigError:
    """``exc`` (raised while building a job's parts) as the ConfigError the user sees."""
    return ConfigError(config_message(exc), error_kind(exc))
