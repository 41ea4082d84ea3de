"""The Kafka shell: Faust app, sequencer and engine stages, Redis read model, CLI commands."""
