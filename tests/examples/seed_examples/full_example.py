# The seed's "Full example": OssCheckpoint + OssMapDataset + DataLoader in a
# training loop (epochs reduced from 100 to 1 to keep the test short).
import os

from osstorchconnector import OssMapDataset, OssCheckpoint
import torchvision.transforms as transforms
import accimage
import torchvision.models as models
import torch

cred_path = os.environ["OSS_CRED_PATH"]  # Default path after configuring a DLC RAM role.
config_path = os.environ["OSS_CONFIG_PATH"]
oss_endpoint = os.environ["OSS_ENDPOINT"]
checkpoint = OssCheckpoint(endpoint=oss_endpoint, cred_path=cred_path, config_path=config_path)
model = models.__dict__["resnet18"]()
epochs = 1
checkpoint_read_uri = os.environ["OSS_CHECKPOINT_PATH"]
checkpoint_write_uri = os.environ["OSS_CHECKPOINT_PATH"]
# Load an existing checkpoint.
with checkpoint.reader(checkpoint_read_uri) as reader:
    state_dict = torch.load(reader)
model.load_state_dict(state_dict)


def read_and_transform(data):
    normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406],
                                     std=[0.229, 0.224, 0.225])
    transform = transforms.Compose([
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        normalize,
    ])
    try:
        img = accimage.Image((data.read()))
        value = transform(img)
    except Exception as e:
        print("read failed", e)
        return None, 0
    return value, 0


# Build a dataset from OSS — no local download or mount required.
dataset = OssMapDataset.from_prefix(
    os.environ["OSS_DATA_FOLDER_URI"],
    endpoint=oss_endpoint,
    transform=read_and_transform,
    cred_path=cred_path,
    config_path=config_path
)
data_loader = torch.utils.data.DataLoader(
    dataset, batch_size=int(os.environ["BATCH_SIZE"]), num_workers=int(os.environ["NUM_WORKERS"]), pin_memory=True
)
seen = 0
for epoch in range(epochs):
    for step, (images, target) in enumerate(data_loader):
        # Batch processing and model training
        seen += images.shape[0]
        pass
    # Save checkpoint after each epoch.
    with checkpoint.writer(checkpoint_write_uri) as writer:
        torch.save(model.state_dict(), writer)
print("seen", seen)
