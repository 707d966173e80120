"""One module per group of `face-pipeline` commands; each has `add_commands(subparsers)` and sets
`run(args, settings)` on its parsers."""
