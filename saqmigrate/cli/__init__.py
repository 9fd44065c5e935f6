"""Command-line interface: argument handling and rendering only; logic lives below."""
