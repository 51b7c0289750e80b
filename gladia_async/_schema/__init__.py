"""The models generated from the spec, plain option values, the converter, live messages."""
