from trainwell.cli import main

main()
