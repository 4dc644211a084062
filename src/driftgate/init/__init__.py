"""`driftgate init`: a repository's gate set up from what can be inferred about it.

`infer.py` works out the script, the experiment's name and the pipeline, the default branch
and the setup from what `workspace.py` read (pure); `render.py` writes the workflows, the
commented `driftgate.toml` and the `.gitignore` line from the packaged templates (pure);
`workspace.py` is the edge: it walks the repository, asks git, and writes the files all or
none.
"""
