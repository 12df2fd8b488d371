"""`python -m resnet_deploy ...` is the CLI; torchrun uses it as its entry point."""

from resnet_deploy.cli import main

if __name__ == "__main__":
    main()
