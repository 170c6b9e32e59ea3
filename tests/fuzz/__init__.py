"""The fuzz suite of issue 16: every command, bad and extreme inputs, one promise each."""
