from simulators.cli import main

main()
