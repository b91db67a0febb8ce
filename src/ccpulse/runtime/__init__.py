"""The Faust shell: topics, tables, agents and the worker process."""
