print("voiceprintd")
