from hookhub.cli import main

main()
