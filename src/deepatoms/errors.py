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
