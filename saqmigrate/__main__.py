from saqmigrate.cli.main import main

main()
