namespace ImprovedDdpm.Tests.Runtime.Evaluation;

/// <summary>The Inception Score against openai/improved-gan's loop run by NumPy, and hand-checkable cases.</summary>
public sealed class InceptionScoreTests
{
    const string File = "inception_score.npz";

    // Both sides compute the same float64 sums in a different order (NumPy's pairwise summation), so the results may
    // differ by a few ulps of each partial sum: 1e-12 relative leaves a thousandfold margin over that.
    const double Relative = 1e-12;

    [Theory]
    [InlineData(10, "is_mean", "is_std")]
    [InlineData(4, "is_mean_splits4", "is_std_splits4")]
    public void Matches_the_reference_loop_from_probabilities_and_from_logits(int splits, string mean, string std)
    {
        var fixture = MetricFixtures.Read(File);
        var fromProbabilities = InceptionScore.FromProbabilities(fixture.Matrix("probs"), splits);
        var fromLogits = InceptionScore.FromLogits(fixture.Matrix("logits"), splits);
        foreach (var score in new[] { fromProbabilities, fromLogits })
        {
            AssertRelative(fixture.Scalar(mean), score.Mean, mean);
            AssertRelative(fixture.Scalar(std), score.StandardDeviation, std);
        }
    }

    [Fact]
    public void One_hot_predictions_spread_evenly_over_classes_score_the_number_of_classes()
    {
        const int classes = 7;
        var probabilities = new double[classes * 10, classes];
        for (var i = 0; i < probabilities.GetLength(0); i++) probabilities[i, i % classes] = 1;
        var score = InceptionScore.FromProbabilities(probabilities, splits: 10);
        Assert.Equal(classes, score.Mean, 1e-12);
        Assert.Equal(0, score.StandardDeviation, 1e-12);
    }

    [Fact]
    public void Identical_predictions_score_one()
    {
        var logits = new double[20, 5];
        for (var i = 0; i < 20; i++) for (var c = 0; c < 5; c++) logits[i, c] = c * 0.7;
        var score = InceptionScore.FromLogits(logits, splits: 2);
        Assert.Equal(1, score.Mean, 1e-14);
        Assert.Equal(0, score.StandardDeviation, 1e-14);
    }

    [Fact]
    public void Rejects_too_few_samples_and_rows_that_are_not_probabilities()
    {
        Assert.Throws<ArgumentException>(() => InceptionScore.FromProbabilities(new double[3, 2] { { 1, 0 }, { 0, 1 }, { 1, 0 } }, splits: 4));
        var e = Assert.Throws<ArgumentException>(() => InceptionScore.FromProbabilities(new double[,] { { 0.5, 0.2 }, { 0.5, 0.5 } }, splits: 1));
        Assert.Contains("row 0 sums to 0.7", e.Message);
    }

    static void AssertRelative(double expected, double actual, string quantity) =>
        Assert.True(Math.Abs(actual - expected) <= Relative * Math.Abs(expected), $"{quantity}: {actual:R}, reference {expected:R}");
}
