"""One module per top-level command. Each exposes ``command`` (a click command or group).

Modules are discovered by file name and imported only when their command runs, so
``saqmigrate scan`` never pays for the runtime's imports.
"""
