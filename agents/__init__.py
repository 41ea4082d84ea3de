"""The Kafka shell: Faust app, the engine stage, Redis read model, CLI commands."""
