from localecs.cli import main

main(prog_name="localecs")
