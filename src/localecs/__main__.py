from localecs.cli import main

main()
