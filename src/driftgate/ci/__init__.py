"""Where the gate runs: the CI context (which commit, which base, which pull request), local
git, and the user's command as a process."""
