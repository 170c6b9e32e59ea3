"""``python -m gradscope …`` behaves as ``gradscope …``."""

from gradscope.cli import main

if __name__ == "__main__":
    main(prog_name="gradscope")
