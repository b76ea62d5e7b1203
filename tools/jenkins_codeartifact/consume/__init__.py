"""``ca-consume-deploy``: the image build, the containers, the registry, the deploy targets and the stages."""
