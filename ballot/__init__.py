"""The ``ballot`` command and the tools that drive whole systems: the demo, the benchmarks, export,
audit and receipt commands, ``ballot count``. The one place that imports both the ledger and the
counter; neither core imports it."""
