"""The GitHub Action: its inputs, the workflow commands and files it writes, the artifact a
read-only run leaves, and GitHub's REST API (PyGithub, only in `github.py`). An adapter over
`driftgate.session`: nothing here compares or decides a verdict."""
