"""Benchmarks behind `epaxdb bench`: each module measures one part in isolation."""
