using System.Globalization;

namespace ImprovedDdpm;

/// <summary>
/// A numeric CSV read back for plots: a run's <c>progress.csv</c> (written by <see cref="CsvProgressLog"/>) or
/// <c>nll</c>'s per-step terms. Each row maps column names to values; an empty cell (a quartile no example fell into)
/// is absent.
/// </summary>
public sealed record ProgressCsv(IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyDictionary<string, double>> Rows)
{
    /// <exception cref="InvalidDataException">A row has another number of cells than the header, or a cell is not a number; the message names the line.</exception>
    public static ProgressCsv Read(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0) return new ProgressCsv([], []);
        var columns = lines[0].Split(',');
        var rows = new List<IReadOnlyDictionary<string, double>>();
        for (var i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var cells = lines[i].Split(',');
            if (cells.Length != columns.Length)
                throw new InvalidDataException($"{path} line {i + 1} has {cells.Length} cells; the header has {columns.Length}");
            var row = new Dictionary<string, double>();
            for (var c = 0; c < cells.Length; c++)
            {
                if (cells[c].Length == 0) continue;
                row[columns[c]] = double.TryParse(cells[c], NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                    ? value
                    : throw new InvalidDataException($"{path} line {i + 1}: {columns[c]} = \"{cells[c]}\" is not a number");
            }
            rows.Add(row);
        }
        return new ProgressCsv(columns, rows);
    }

    /// <summary>(x, value) of every row that has both <paramref name="column"/> and <paramref name="x"/> (the step by default).</summary>
    public (double[] Xs, double[] Values) Series(string column, string x = TrainingLogColumns.Step)
    {
        var rows = Rows.Where(r => r.ContainsKey(column) && r.ContainsKey(x)).ToList();
        return ([.. rows.Select(r => r[x])], [.. rows.Select(r => r[column])]);
    }
}
