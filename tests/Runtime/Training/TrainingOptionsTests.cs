namespace ImprovedDdpm.Tests.Runtime.Training;

/// <summary>Options as the reference's flags give them.</summary>
public sealed class TrainingOptionsTests
{
    [Fact]
    public void Ema_rates_parse_from_the_reference_flag()
    {
        Assert.Equal([0.9999, 0.99], TrainingOptions.ParseEmaRates("0.9999,0.99"));
        Assert.Equal([0.9999], TrainingOptions.ParseEmaRates(" 0.9999 "));
        Assert.Empty(TrainingOptions.ParseEmaRates(""));
        var error = Assert.Throws<FormatException>(() => TrainingOptions.ParseEmaRates("0.9999,1.5"));
        Assert.Contains("in [0, 1]", error.Message);
    }

    [Fact]
    public void A_model_without_a_training_attribute_gets_the_reference_defaults()
    {
        var options = ImprovedDdpm.Tests.Generator.TinyFixed.Definition.Training;
        Assert.Equal(new TrainingOptions(), options with { EmaRates = new TrainingOptions().EmaRates });
        Assert.Equal([0.9999], options.EmaRates);
        Assert.Equal(1e-4, options.Lr);
        Assert.Equal(1, options.MicrobatchSize);
        Assert.Equal(4, (options with { BatchSize = 8, Microbatch = 4 }).MicrobatchSize);
    }

    [Fact]
    public void Invalid_options_are_refused_by_name()
    {
        var error = Assert.Throws<TrainingOptionException>(() => new TrainingOptions { SaveInterval = 0 }.Validate());
        Assert.Equal("training option SaveInterval = 0 must be a positive number of steps", error.Message);
        // The parts apart, for the command-line tool to name its flag instead of the property.
        Assert.Equal(("SaveInterval", "0", "must be a positive number of steps"), (error.Option, error.Value, error.Rule));
        Assert.Equal("EmaRates", Assert.Throws<TrainingOptionException>(() => new TrainingOptions { EmaRates = [0.99, 0.99] }.Validate()).Option);
        Assert.Equal("NaN", Assert.Throws<TrainingOptionException>(() => new TrainingOptions { Lr = double.NaN }.Validate()).Value);
    }

    [Fact]
    public void The_learning_rate_anneals_linearly_to_zero()
    {
        Assert.Equal(1e-4, TrainLoop.AnnealedLr(1e-4, 0, 12345));
        Assert.Equal(1e-3, TrainLoop.AnnealedLr(1e-3, 4, 0));
        Assert.Equal(7.5e-4, TrainLoop.AnnealedLr(1e-3, 4, 1), 1e-18);
        Assert.Equal(2.5e-4, TrainLoop.AnnealedLr(1e-3, 4, 3), 1e-18);
        Assert.Equal(0, TrainLoop.AnnealedLr(1e-3, 4, 4));
    }
}
