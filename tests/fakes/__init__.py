"""Fakes of outside systems, served over real HTTP so that real clients can talk to them."""
