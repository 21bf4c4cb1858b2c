"""Sub-commands of the `epaxdb` CLI; each module defines `register(subparsers)`."""
