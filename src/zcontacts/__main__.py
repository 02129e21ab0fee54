from zcontacts.cli import main

main()
