namespace ImprovedDdpm;

/// <summary>Redraws a run's loss curve (<see cref="FileName"/> in the run folder) from its <c>progress.csv</c> whenever a checkpoint is saved.</summary>
public sealed class LossCurveWriter : ITrainingObserver
{
    /// <summary>The curve's name in the run folder.</summary>
    public const string FileName = TrainingRun.LossCurveFileName;

    public void OnCheckpointSaved(TrainingCheckpoint checkpoint)
    {
        var csv = Path.Combine(checkpoint.Directory, TrainLoop.ProgressFileName);
        if (File.Exists(csv)) TrainingCurves.SaveLossPng(ProgressCsv.Read(csv), Path.Combine(checkpoint.Directory, FileName));
    }
}
