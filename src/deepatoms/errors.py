"""Errors that mean "the user asked for something we cannot do" (CLI exit code 2)."""


class DeepatomsError(Exception):
    """Bad usage or bad input: the message is one line that says what is wrong and what is allowed."""


class UnknownAtomError(DeepatomsError):
    pass


class ParamError(DeepatomsError):
    pass


class StoreError(DeepatomsError):
    pass


class DeviceError(DeepatomsError):
    pass


class MissingDependencyError(DeepatomsError):
    pass


def did_you_mean(word: str, options: "list[str] | tuple[str, ...]") -> str:
    """`" (did you mean quick?)"` when `word` is close to one of `options`, else ''."""
    import difflib
    close = difflib.get_close_matches(word, list(options), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""
